// hook_test.cc - the hook chain: hooks run in the order added, the first one
// that does not Continue decides, and a hook may answer later.
#define BOOST_TEST_MODULE policy
#include <boost/test/unit_test.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policy/hook.h"

namespace hato::policy {
namespace {

// Records that it ran, then answers with a fixed verdict, at once or when told.
class ScriptedHook : public Hook {
 public:
  ScriptedHook(std::string name, std::vector<std::string>* trace, Verdict verdict,
               bool async = false)
      : name_(std::move(name)), trace_(trace), verdict_(std::move(verdict)), async_(async) {}

  const char* name() const override { return name_.c_str(); }
  void run(const HookContext& context, std::function<void(Verdict)> done) override {
    trace_->push_back(name_ + ":" + context.sender);
    if (async_) {
      pending_ = std::move(done);
    } else {
      done(verdict_);
    }
  }
  bool pending() const { return static_cast<bool>(pending_); }
  void answer() {
    BOOST_TEST_REQUIRE(pending());
    auto done = std::move(pending_);
    pending_ = nullptr;
    done(verdict_);
  }

 private:
  std::string name_;
  std::vector<std::string>* trace_;
  Verdict verdict_;
  bool async_;
  std::function<void(Verdict)> pending_;
};

struct ChainFixture {
  conf::Config config;
  SessionInfo session;
  std::string sender = "a@example.org";
  std::string recipient;
  TransactionState tx;
  HookContext context{session, config, sender, recipient, tx};
  HookChain chain;
  std::vector<std::string> trace;
  std::vector<Verdict> verdicts;

  std::shared_ptr<ScriptedHook> add(Phase phase, const std::string& name, Verdict verdict,
                                    bool async = false) {
    auto hook = std::make_shared<ScriptedHook>(name, &trace, std::move(verdict), async);
    chain.add(phase, hook);
    return hook;
  }
  void run(Phase phase) {
    chain.run(phase, context, [this](Verdict v) { verdicts.push_back(std::move(v)); });
  }
};

BOOST_FIXTURE_TEST_SUITE(hook_chain, ChainFixture)

BOOST_AUTO_TEST_CASE(empty_phase_continues_at_once) {
  BOOST_TEST(chain.empty(Phase::kMail));
  run(Phase::kMail);
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST((verdicts[0].kind == Verdict::Kind::kContinue));
}

BOOST_AUTO_TEST_CASE(hooks_run_in_the_order_added) {
  add(Phase::kRcpt, "first", Verdict::proceed());
  add(Phase::kRcpt, "second", Verdict::proceed());
  add(Phase::kRcpt, "third", Verdict::proceed());
  BOOST_TEST(!chain.empty(Phase::kRcpt));
  run(Phase::kRcpt);
  BOOST_TEST(trace == (std::vector<std::string>{"first:a@example.org", "second:a@example.org",
                                                "third:a@example.org"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST((verdicts[0].kind == Verdict::Kind::kContinue));
}

BOOST_AUTO_TEST_CASE(first_reply_short_circuits) {
  add(Phase::kMail, "ok", Verdict::proceed());
  add(Phase::kMail, "refuse", Verdict::reply(550, "5.7.1 no"));
  add(Phase::kMail, "never", Verdict::proceed());
  run(Phase::kMail);
  BOOST_TEST(trace == (std::vector<std::string>{"ok:a@example.org", "refuse:a@example.org"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST((verdicts[0].kind == Verdict::Kind::kReply));
  BOOST_TEST(verdicts[0].code == 550);
  BOOST_TEST(verdicts[0].text == "5.7.1 no");
}

BOOST_AUTO_TEST_CASE(disconnect_short_circuits) {
  add(Phase::kConnect, "block", Verdict::disconnect(421, "4.7.0 go away"));
  add(Phase::kConnect, "never", Verdict::proceed());
  run(Phase::kConnect);
  BOOST_TEST(trace.size() == 1u);
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST((verdicts[0].kind == Verdict::Kind::kDisconnect));
  BOOST_TEST(verdicts[0].code == 421);
  BOOST_TEST(verdicts[0].text == "4.7.0 go away");
}

BOOST_AUTO_TEST_CASE(phases_are_separate) {
  add(Phase::kHelo, "helo", Verdict::reply(550, "5.7.1 helo"));
  add(Phase::kData, "data", Verdict::proceed());
  BOOST_TEST(chain.empty(Phase::kMail));
  BOOST_TEST(chain.empty(Phase::kCommit));
  run(Phase::kData);
  BOOST_TEST(trace == (std::vector<std::string>{"data:a@example.org"}),
             boost::test_tools::per_element());
  BOOST_TEST((verdicts.at(0).kind == Verdict::Kind::kContinue));
}

BOOST_AUTO_TEST_CASE(async_hook_completes_later) {
  add(Phase::kMail, "before", Verdict::proceed());
  auto slow = add(Phase::kMail, "slow", Verdict::proceed(), true);
  add(Phase::kMail, "after", Verdict::reply(451, "4.7.1 later"));
  run(Phase::kMail);
  // Waiting on the slow hook: nothing decided, the next hook not started.
  BOOST_TEST(verdicts.empty());
  BOOST_TEST(trace.size() == 2u);
  BOOST_TEST(slow->pending());
  slow->answer();
  BOOST_TEST(trace == (std::vector<std::string>{"before:a@example.org", "slow:a@example.org",
                                                "after:a@example.org"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST((verdicts[0].kind == Verdict::Kind::kReply));
  BOOST_TEST(verdicts[0].code == 451);
}

BOOST_AUTO_TEST_CASE(async_refusal_ends_the_chain) {
  auto slow = add(Phase::kRcpt, "slow", Verdict::reply(554, "5.7.1 listed"), true);
  add(Phase::kRcpt, "never", Verdict::proceed());
  run(Phase::kRcpt);
  BOOST_TEST(verdicts.empty());
  slow->answer();
  BOOST_TEST(trace.size() == 1u);
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST(verdicts[0].code == 554);
}

BOOST_AUTO_TEST_CASE(two_runs_of_one_chain_are_independent) {
  auto slow = add(Phase::kMail, "slow", Verdict::proceed(), true);
  add(Phase::kMail, "after", Verdict::proceed());
  run(Phase::kMail);
  BOOST_TEST(verdicts.empty());
  slow->answer();
  BOOST_TEST(verdicts.size() == 1u);
  run(Phase::kMail);
  BOOST_TEST(verdicts.size() == 1u);
  slow->answer();
  BOOST_TEST(verdicts.size() == 2u);
  BOOST_TEST(trace.size() == 4u);
}

BOOST_AUTO_TEST_CASE(verdict_helpers) {
  Verdict p = Verdict::proceed();
  BOOST_TEST((p.kind == Verdict::Kind::kContinue));
  BOOST_TEST(p.code == 0);
  Verdict r = Verdict::reply(553, "5.7.1 x");
  BOOST_TEST((r.kind == Verdict::Kind::kReply));
  Verdict d = Verdict::disconnect(421, "4.3.2 bye");
  BOOST_TEST((d.kind == Verdict::Kind::kDisconnect));
  BOOST_TEST(d.text == "4.3.2 bye");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy
