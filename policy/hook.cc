// hook.cc - running a phase's hooks one after another, each possibly asynchronous.
#include "policy/hook.h"

namespace hato::policy {

void HookChain::add(Phase phase, std::shared_ptr<Hook> hook) {
  hooks_[static_cast<int>(phase)].push_back(std::move(hook));
}

namespace {
// Keeps the position in the chain alive across asynchronous hooks.
struct ChainRun : std::enable_shared_from_this<ChainRun> {
  ChainRun(const std::vector<std::shared_ptr<Hook>>* h, const HookContext& c,
           std::function<void(Verdict)> d)
      : hooks(h), context(c), done(std::move(d)) {}

  const std::vector<std::shared_ptr<Hook>>* hooks;
  HookContext context;  // a copy: the caller's may be gone when a hook answers late
  std::function<void(Verdict)> done;
  size_t next = 0;

  void step() {
    if (next == hooks->size()) {
      done(Verdict::proceed());
      return;
    }
    auto self = shared_from_this();
    (*hooks)[next++]->run(context, [self](Verdict v) {
      if (v.kind == Verdict::Kind::kContinue) {
        self->step();
      } else {
        self->done(std::move(v));
      }
    });
  }
};
}  // namespace

void HookChain::run(Phase phase, const HookContext& context,
                    std::function<void(Verdict)> done) const {
  const auto& hooks = hooks_[static_cast<int>(phase)];
  if (hooks.empty()) {
    done(Verdict::proceed());
    return;
  }
  auto run = std::make_shared<ChainRun>(&hooks, context, std::move(done));
  run->step();
}

}  // namespace hato::policy
