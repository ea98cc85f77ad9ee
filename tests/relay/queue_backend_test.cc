// queue_backend_test.cc - submitted mail through QueueBackend (and its Enqueuer) into a real
// RocksDB store: every message is signed, committed and answered, and messages signed while
// others wait reach the committer together (fewer synced writes than messages).
#define BOOST_TEST_MODULE queue_backend
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <optional>

#include "common/loop.h"
#include "common/metrics.h"
#include "common/ossl.h"
#include "common/worker_pool.h"
#include "policy/auth.h"
#include "policy/dkim/keyring.h"
#include "queue/store.h"
#include "relay/queue_backend.h"
#include "tests/temp_dir.h"

namespace hato::relay {
namespace {

using testing::TempDir;

// An RSA-2048 key file only its owner reads, as the keyring demands.
std::string write_rsa_key(const std::string& dir) {
  std::string path = dir + "/example.test.s1.pem";
  ossl::Pkey key(EVP_RSA_gen(2048));
  BOOST_TEST_REQUIRE(key != nullptr);
  FILE* f = fopen(path.c_str(), "w");
  BOOST_TEST_REQUIRE(f != nullptr);
  bool written = PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  fclose(f);
  BOOST_TEST_REQUIRE(written);
  chmod(path.c_str(), 0600);
  return path;
}

// The real store, counting how messages are handed to it: one by one or in groups.
class CountingStore : public queue::Store {
 public:
  explicit CountingStore(queue::Store& real) : real_(real) {}
  std::vector<size_t> handovers;  // the size of each hand-over, in order

  void insert(const queue::QueueId& id, std::string message, queue::Envelope envelope,
              std::function<void(Status)> done) override {
    handovers.push_back(1);
    real_.insert(id, std::move(message), std::move(envelope), std::move(done));
  }
  void insert_all(std::vector<NewMessage> messages) override {
    handovers.push_back(messages.size());
    real_.insert_all(std::move(messages));
  }
  Status update(const queue::QueueId& id, const queue::Envelope& e) override {
    return real_.update(id, e);
  }
  Status remove(const queue::QueueId& id) override { return real_.remove(id); }
  Result<queue::Envelope> envelope(const queue::QueueId& id) override { return real_.envelope(id); }
  Result<std::string> message(const queue::QueueId& id) override { return real_.message(id); }
  Status for_each(const std::function<bool(const queue::StoredMessage&)>& visit) override {
    return real_.for_each(visit);
  }
  Status for_each_from(const queue::QueueId* after,
                       const std::function<bool(const queue::StoredMessage&)>& visit) override {
    return real_.for_each_from(after, visit);
  }
  Status for_each_due(int64_t now_ms, size_t limit,
                      const std::function<bool(const queue::QueueId&, int64_t)>& visit) override {
    return real_.for_each_due(now_ms, limit, visit);
  }
  std::optional<queue::QueueId> newest_id() override { return real_.newest_id(); }
  queue::StoreStats stats() const override { return real_.stats(); }

 private:
  queue::Store& real_;
};

std::string message_from(const std::string& from, int i) {
  return "From: <" + from + ">\r\nTo: <bob@example.net>\r\nSubject: " + std::to_string(i) +
         "\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nHello " + std::to_string(i) + ".\r\n";
}

// A real RocksDB store in dir/queue.
std::unique_ptr<queue::Store> open_store(const std::string& dir) {
  queue::StoreOptions options;
  options.path = dir + "/queue";
  auto store = queue::open_rocksdb_store(options);
  BOOST_TEST_REQUIRE(store.is_ok(), store.status().message());
  return std::move(*store);
}

// A configuration with a submission listener, example.test and its RSA key, and the keyring
// made from it.
std::pair<conf::ConfigPtr, std::shared_ptr<const dkim::Keyring>> signing_setup(
    const std::string& dir) {
  auto config = std::make_shared<conf::Config>();
  conf::Listener submission;
  submission.name = "submission";
  submission.role = conf::ListenerRole::kSubmission;
  config->listeners.push_back(submission);
  conf::Domain domain;
  domain.name = "example.test";
  domain.dkim.push_back({"s1", "rsa-sha256", write_rsa_key(dir)});
  config->domains.push_back(domain);
  auto keyring = dkim::Keyring::load(*config);
  BOOST_TEST_REQUIRE(keyring.is_ok(), keyring.message());
  return {config, *keyring};
}

BOOST_AUTO_TEST_SUITE(queue_backend)

BOOST_AUTO_TEST_CASE(signed_messages_are_committed_together_and_each_answered) {
  TempDir dir;
  auto setup = signing_setup(dir.path);
  const conf::ConfigPtr& config = setup.first;
  const std::shared_ptr<const dkim::Keyring>& keyring = setup.second;

  Loop loop;  // outlives the store, whose committer posts to it
  auto store = open_store(dir.path);

  CountingStore counting(*store);
  queue::QueueIdGenerator ids;
  std::vector<queue::QueueId> queued;
  std::vector<queue::QueueId> answered;
  {
    WorkerPool workers(2);
    Enqueuer enqueuer(loop, config, counting, ids, workers);
    enqueuer.set_keyring(keyring);
    QueueBackend backend(loop, config, enqueuer, workers);
    enqueuer.add_listener([&](const Enqueuer::Queued& q) { queued.push_back(q.id); });
    // 40 messages handed over at once, as 40 sessions finishing DATA together do;
    // one of them from a domain without a key, which goes in unsigned. Both workers
    // are held until all 40 are posted, so the grouping below does not depend on how
    // the scheduler interleaves the loop and the workers.
    const int n = 40;
    std::latch all_posted(1);
    for (int w = 0; w < 2; ++w) workers.post([&] { all_posted.wait(); });
    loop.post([&] {
      for (int i = 0; i < n; ++i) {
        queue::QueueId id = ids.next();
        std::string from = i == 7 ? "carol@elsewhere.test" : "alice@example.test";
        std::string text = message_from(from, i);
        queue::Envelope env;
        env.sender = from;
        env.listener = "submission";
        env.recipients.push_back(queue::Recipient{});
        env.recipients.back().address = "bob@example.net";
        env.size = text.size();
        backend.commit(id, std::move(text), std::move(env),
                       [&, id](Status s) {
                         BOOST_TEST(s.is_ok(), s.message());
                         answered.push_back(id);
                         if (answered.size() == static_cast<size_t>(n)) loop.stop();
                       },
                       {});
      }
      all_posted.count_down();
    });
    loop.after(std::chrono::seconds(60), [&] { loop.stop(); });  // keeps the loop running
    loop.run();
  }
  BOOST_TEST(answered.size() == 40u);
  BOOST_TEST(queued.size() == 40u);
  for (size_t i = 0; i < answered.size(); ++i) {
    auto text = store->message(answered[i]);
    BOOST_TEST_REQUIRE(text.is_ok(), text.message());
    bool from_keyless = text->find("carol@elsewhere.test") != std::string::npos;
    BOOST_TEST((text->rfind("DKIM-Signature:", 0) == 0) == !from_keyless, *text);
    auto env = store->envelope(answered[i]);
    BOOST_TEST_REQUIRE(env.is_ok());
    BOOST_TEST(env->size == text->size());  // the size counts the signature
  }
  // Signed on two workers, yet handed to the committer in groups of 8 while more wait
  // for a signature. Once the last one is taken, each worker hands over what it holds:
  // at most 4 full groups and 2 more, or 5 full groups.
  size_t total = 0;
  for (size_t n : counting.handovers) {
    BOOST_TEST(n <= 8u);
    total += n;
  }
  BOOST_TEST(total == 40u);
  BOOST_TEST(counting.handovers.size() <= 6u);
  queue::StoreStats stats = store->stats();
  BOOST_TEST_MESSAGE("40 signed messages: " << counting.handovers.size() << " hand-overs, "
                                            << stats.commit_syncs << " syncs");
  BOOST_TEST(stats.commits == 40u);
  BOOST_TEST(stats.commit_syncs <= counting.handovers.size());
}

BOOST_AUTO_TEST_CASE(parallel_correct_logins_from_one_address_all_succeed) {
  // A Postfix relay client or a nodemailer pool logs in on 20 connections at once. Checks
  // still running are not failures: none of them may be refused as a guesser.
  TempDir dir;
  auto hash = policy::hash_password("app-secret");
  BOOST_TEST_REQUIRE(hash.is_ok(), hash.message());
  BOOST_TEST_REQUIRE(policy::write_user(dir.path + "/users", "app", *hash).is_ok());
  auto users = policy::UserDb::load(dir.path + "/users");
  BOOST_TEST_REQUIRE(users.is_ok(), users.message());

  Loop loop;
  auto store = open_store(dir.path);
  queue::QueueIdGenerator ids;
  const int n = 20;
  int ok = 0, blocked = 0, failed = 0;
  {
    WorkerPool workers(2);
    auto config = std::make_shared<conf::Config>();
    Enqueuer enqueuer(loop, config, *store, ids, workers);
    QueueBackend backend(loop, config, enqueuer, workers);
    backend.set_users(*users);
    loop.post([&] {
      for (int i = 0; i < n; ++i) {
        backend.authenticate("192.0.2.7", "app", "app-secret", [&](AuthOutcome outcome) {
          (outcome.ok ? ok : outcome.blocked ? blocked : failed)++;
          if (ok + blocked + failed == n) loop.stop();
        });
      }
    });
    loop.after(std::chrono::seconds(60), [&] { loop.stop(); });
    loop.run();
  }
  BOOST_TEST(ok == n);
  BOOST_TEST(blocked == 0);
  BOOST_TEST(failed == 0);
}

// Logs in once and runs the loop until the answer: ok or not.
bool login(Loop& loop, QueueBackend& backend, const std::string& user, const std::string& pw) {
  std::optional<bool> ok;
  loop.post([&] {
    backend.authenticate("192.0.2.8", user, pw, [&](AuthOutcome outcome) {
      ok = outcome.ok;
      loop.stop();
    });
  });
  // A pending timer keeps the loop running while a worker checks the password.
  loop.after(std::chrono::seconds(60), [&] { loop.stop(); });
  loop.run();
  return ok.value_or(false);
}

uint64_t cache_hits() {
  return metrics().counter("hato_auth_cache_total", "", "result=\"hit\"").value();
}

BOOST_AUTO_TEST_CASE(a_remembered_password_fails_once_the_users_file_changes) {
  TempDir dir;
  const std::string file = dir.path + "/users";
  auto old_hash = policy::hash_password("old-secret");
  auto new_hash = policy::hash_password("new-secret");
  BOOST_TEST_REQUIRE((old_hash.is_ok() && new_hash.is_ok()));
  BOOST_TEST_REQUIRE(policy::write_user(file, "app", *old_hash).is_ok());
  auto before = policy::UserDb::load(file);
  BOOST_TEST_REQUIRE(policy::write_user(file, "app", *new_hash).is_ok());
  auto after = policy::UserDb::load(file);
  BOOST_TEST_REQUIRE((before.is_ok() && after.is_ok()));

  Loop loop;
  auto store = open_store(dir.path);
  queue::QueueIdGenerator ids;
  WorkerPool workers(2);
  auto config = std::make_shared<conf::Config>();
  Enqueuer enqueuer(loop, config, *store, ids, workers);
  QueueBackend backend(loop, config, enqueuer, workers);
  backend.set_users(*before);
  uint64_t hits = cache_hits();
  BOOST_TEST(login(loop, backend, "app", "old-secret"));
  BOOST_TEST(login(loop, backend, "app", "old-secret"));
  BOOST_TEST(cache_hits() == hits + 1);
  backend.set_users(*after);
  BOOST_TEST(!login(loop, backend, "app", "old-secret"));
  BOOST_TEST(login(loop, backend, "app", "new-secret"));
  backend.set_users(std::make_shared<const policy::UserDb>());  // the user removed
  BOOST_TEST(!login(loop, backend, "app", "new-secret"));
  BOOST_TEST(cache_hits() == hits + 1);
}

// A header no verifier reads as we do (Python's msg_35: a line without a colon, no empty line)
// is queued, but not signed; a readable one from the same domain is.
BOOST_AUTO_TEST_CASE(an_unreadable_header_is_queued_unsigned) {
  TempDir dir;
  auto setup = signing_setup(dir.path);
  const conf::ConfigPtr& config = setup.first;
  const std::shared_ptr<const dkim::Keyring>& keyring = setup.second;
  Loop loop;
  auto store = open_store(dir.path);
  queue::QueueIdGenerator ids;
  const std::string texts[] = {
      "From: alice@example.test\r\nSubject: here's something interesting\r\ncounter to RFC "
      "2822, there's no separating newline here\r\n",
      message_from("alice@example.test", 1)};
  std::vector<queue::QueueId> answered;
  {
    WorkerPool workers(1);
    Enqueuer enqueuer(loop, config, *store, ids, workers);
    enqueuer.set_keyring(keyring);
    QueueBackend backend(loop, config, enqueuer, workers);
    loop.post([&] {
      for (const auto& text : texts) {
        queue::QueueId id = ids.next();
        queue::Envelope env;
        env.sender = "alice@example.test";
        env.listener = "submission";
        env.size = text.size();
        backend.commit(id, text, std::move(env),
                       [&, id](Status s) {
                         BOOST_TEST(s.is_ok(), s.message());
                         answered.push_back(id);
                         if (answered.size() == 2u) loop.stop();
                       },
                       {});
      }
    });
    loop.after(std::chrono::seconds(60), [&] { loop.stop(); });
    loop.run();
  }
  BOOST_TEST_REQUIRE(answered.size() == 2u);
  for (const auto& id : answered) {
    auto text = store->message(id);
    BOOST_TEST_REQUIRE(text.is_ok(), text.message());
    bool unreadable = text->find("counter to RFC") != std::string::npos;
    BOOST_TEST((text->rfind("DKIM-Signature:", 0) == 0) == !unreadable, *text);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::relay
