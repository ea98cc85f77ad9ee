// enqueuer_test.cc - the one door into the queue, with a real RocksDB store, worker pool and
// loop: Hato's own mail is committed and announced only once durable, and the signing rule
// holds (submitted and own mail signed when its From domain has a key; inbound mail never).
#define BOOST_TEST_MODULE enqueuer
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <map>

#include "common/loop.h"
#include "common/ossl.h"
#include "common/worker_pool.h"
#include "policy/dkim/keyring.h"
#include "queue/store.h"
#include "relay/enqueuer.h"
#include "relay/relay_metrics.h"
#include "tests/temp_dir.h"

namespace hato::relay {
namespace {

using testing::TempDir;

// An Ed25519 key file only its owner reads, as the keyring demands.
std::string write_key(const std::string& dir) {
  std::string path = dir + "/example.test.e1.pem";
  ossl::Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  BOOST_TEST_REQUIRE(key != nullptr);
  FILE* f = fopen(path.c_str(), "w");
  BOOST_TEST_REQUIRE(f != nullptr);
  bool written = PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  fclose(f);
  BOOST_TEST_REQUIRE(written);
  chmod(path.c_str(), 0600);
  return path;
}

std::unique_ptr<queue::Store> open_store(const std::string& dir) {
  queue::StoreOptions options;
  options.path = dir + "/queue";
  auto store = queue::open_rocksdb_store(options);
  BOOST_TEST_REQUIRE(store.is_ok(), store.status().message());
  return std::move(*store);
}

// mx.example.test with a submission listener "587" and an inbound listener "25"; example.test
// has a key, elsewhere.test has none.
conf::ConfigPtr make_config(const std::string& dir) {
  auto config = std::make_shared<conf::Config>();
  config->hostname = "mx.example.test";
  conf::Listener submission, inbound;
  submission.name = "587";
  submission.role = conf::ListenerRole::kSubmission;
  inbound.name = "25";
  inbound.role = conf::ListenerRole::kInbound;
  config->listeners = {submission, inbound};
  conf::Domain domain;
  domain.name = "example.test";
  domain.dkim.push_back({"e1", "ed25519-sha256", write_key(dir)});
  config->domains.push_back(domain);
  return config;
}

std::shared_ptr<const dkim::Keyring> keyring_for(const conf::Config& config) {
  auto keyring = dkim::Keyring::load(config);
  BOOST_TEST_REQUIRE(keyring.is_ok(), keyring.message());
  return *keyring;
}

// A notice from `from`, as the blacklist monitor's are built.
LocalMessage notice(const std::string& from, const std::string& origin) {
  LocalMessage m;
  m.sender = "";
  m.recipient = "postmaster@example.test";
  m.origin = origin;
  m.build = [from](const std::string& message_id, int64_t) {
    return "From: <" + from + ">\r\nTo: <postmaster@example.test>\r\nSubject: notice\r\n" +
           "Message-ID: <" + message_id + ">\r\n" +
           "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nSomething happened.\r\n";
  };
  return m;
}

// What a listener saw, and what the store held for that ID at that moment.
struct Heard {
  Enqueuer::Queued queued;
  bool stored = false;  // message and envelope read back from the store
  std::string text;
  queue::Envelope envelope;
  bool answered_before = false;  // the committer's caller heard first
};

// Runs `start` on a loop with a real store and two workers until `n` messages are heard.
struct Harness {
  TempDir dir;
  conf::ConfigPtr config = make_config(dir.path);
  Loop loop;  // outlives the store, whose committer posts to it
  std::unique_ptr<queue::Store> store = open_store(dir.path);
  queue::QueueIdGenerator ids;
  std::map<std::string, Heard> heard;  // by queue ID
  std::map<std::string, Status> answers;

  void run(bool with_keys, size_t n, const std::function<void(Enqueuer&)>& start) {
    WorkerPool workers(2);
    Enqueuer enqueuer(loop, config, *store, ids, workers);
    if (with_keys) enqueuer.set_keyring(keyring_for(*config));
    enqueuer.add_listener([&](const Enqueuer::Queued& q) {
      Heard h;
      h.queued = q;
      auto text = store->message(q.id);
      auto envelope = store->envelope(q.id);
      h.stored = text.is_ok() && envelope.is_ok();
      if (h.stored) {
        h.text = std::move(*text);
        h.envelope = std::move(*envelope);
      }
      h.answered_before = answers.count(q.id.str()) == 1;
      heard.emplace(q.id.str(), std::move(h));
      if (heard.size() == n) loop.stop();
    });
    loop.post([&] { start(enqueuer); });
    loop.after(std::chrono::seconds(60), [&] { loop.stop(); });  // a hang fails, not blocks
    loop.run();
  }
  std::function<void(Status)> answer(const queue::QueueId& id) {
    return [this, id](Status s) { answers.emplace(id.str(), s); };
  }
};

bool is_signed(const Heard& h) {
  return h.text.rfind("DKIM-Signature:", 0) == 0;
}

BOOST_AUTO_TEST_SUITE(enqueuer)

BOOST_AUTO_TEST_CASE(queue_own_commits_then_tells_the_listeners_with_id_and_recipient) {
  Harness h;
  uint64_t bounces = m::queued("bounce").value();
  queue::QueueId id;
  h.run(false, 1, [&](Enqueuer& enqueuer) {
    LocalMessage dsn = notice("MAILER-DAEMON@mx.example.test", "bounce");
    dsn.recipient = "alice@example.test";
    // `id` is set before the commit can end: the answer runs on this loop, later.
    id = enqueuer.queue_own(std::move(dsn), [&](Status s) { h.answers.emplace(id.str(), s); });
  });
  BOOST_TEST_REQUIRE(h.heard.size() == 1u);
  const Heard& got = h.heard.begin()->second;
  BOOST_TEST(got.queued.id.str() == id.str());
  BOOST_TEST(got.queued.recipients == std::vector<std::string>{"alice@example.test"});
  BOOST_TEST(got.queued.origin == "bounce");
  // Durable before anyone hears of it: the listener reads it back from the store.
  BOOST_TEST_REQUIRE(got.stored);
  BOOST_TEST(got.text.find("Message-ID: <" + id.str() + "@mx.example.test>") != std::string::npos);
  BOOST_TEST(!is_signed(got));  // no keys at all
  BOOST_TEST(got.envelope.sender == "");
  BOOST_TEST(got.envelope.client == "local");
  BOOST_TEST(got.envelope.listener == "bounce");
  BOOST_TEST(got.envelope.size == got.text.size());
  BOOST_TEST_REQUIRE(got.envelope.recipients.size() == 1u);
  BOOST_TEST(got.envelope.recipients[0].address == "alice@example.test");
  BOOST_TEST(got.answered_before);
  BOOST_TEST(m::queued("bounce").value() == bounces + 1);
}

BOOST_AUTO_TEST_CASE(own_mail_is_signed_when_its_from_domain_has_a_key) {
  Harness h;
  std::string keyed, keyless;
  h.run(true, 2, [&](Enqueuer& enqueuer) {
    keyed =
        enqueuer.queue_own(notice("MAILER-DAEMON@example.test", "blacklist"), [](Status) {}).str();
    keyless =
        enqueuer.queue_own(notice("MAILER-DAEMON@elsewhere.test", "tls-report"), [](Status) {})
            .str();
  });
  BOOST_TEST_REQUIRE(h.heard.size() == 2u);
  const Heard& a = h.heard.at(keyed);
  const Heard& b = h.heard.at(keyless);
  BOOST_TEST(is_signed(a), a.text);
  BOOST_TEST(a.text.find("d=example.test") != std::string::npos);
  BOOST_TEST_REQUIRE(a.stored);
  BOOST_TEST_REQUIRE(b.stored);
  BOOST_TEST(a.envelope.size == a.text.size());  // the size counts the signature
  BOOST_TEST(!is_signed(b), b.text);
  BOOST_TEST(a.queued.origin == "blacklist");
  BOOST_TEST(b.queued.origin == "tls-report");
}

BOOST_AUTO_TEST_CASE(submitted_mail_is_signed_and_inbound_mail_never) {
  Harness h;
  std::string text =
      "From: <alice@example.test>\r\nTo: <bob@example.net>\r\nSubject: hi\r\n"
      "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n";
  std::string submitted, inbound;
  h.run(true, 2, [&](Enqueuer& enqueuer) {
    for (const char* listener : {"587", "25"}) {
      queue::QueueId id = enqueuer.next_id();
      (std::string(listener) == "587" ? submitted : inbound) = id.str();
      queue::Envelope env;
      env.sender = "alice@example.test";
      env.listener = listener;
      env.recipients.push_back(queue::Recipient{});
      env.recipients.back().address = "bob@example.net";
      env.recipients.push_back(queue::Recipient{});
      env.recipients.back().address = "carol@example.net";
      env.size = text.size();
      enqueuer.commit(id, text, std::move(env), h.answer(id));
    }
  });
  BOOST_TEST_REQUIRE(h.heard.size() == 2u);
  const Heard& s = h.heard.at(submitted);
  const Heard& i = h.heard.at(inbound);
  BOOST_TEST(is_signed(s), s.text);
  BOOST_TEST(!is_signed(i), i.text);
  BOOST_TEST(s.queued.origin == "submission");
  BOOST_TEST(i.queued.origin == "inbound");
  std::vector<std::string> both{"bob@example.net", "carol@example.net"};
  BOOST_TEST(s.queued.recipients == both);
  BOOST_TEST(i.queued.recipients == both);
  BOOST_TEST(s.answered_before);
  BOOST_TEST(i.answered_before);
  for (const auto& [id, status] : h.answers) BOOST_TEST(status.is_ok(), id << status.message());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::relay
