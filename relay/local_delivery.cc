// local_delivery.cc - Maildir delivery on the worker pool.
#include "relay/local_delivery.h"

#include <map>
#include <optional>

#include "inbound/maildir.h"
#include "relay/tlsrpt.h"

namespace hato::relay {

namespace {

Reply reply_of(int code, std::string text) {
  Reply r;
  r.code = code;
  r.lines.push_back(std::move(text));
  return r;
}

class MaildirDelivery : public LocalDelivery {
 public:
  MaildirDelivery(Loop& loop, WorkerPool& workers) : loop_(loop), workers_(workers) {}

  void deliver(LocalRequest request, std::function<void(TransactionResult)> done) override {
    Loop* loop = &loop_;
    workers_.post([loop, request = std::move(request), done = std::move(done)]() mutable {
      TransactionResult replies;
      bool delivered = false;
      // One file per mailbox: recipients that resolve to one already written (aliases,
      // "+tag", case) share its reply instead of getting another copy.
      std::map<std::string, size_t> written;
      for (const auto& address : request.addresses) {
        auto box = inbound::resolve_mailbox(*request.config, address);
        std::string key = box ? box->domain + "/" + box->mailbox : std::string();
        auto seen = box ? written.find(key) : written.end();
        if (seen != written.end()) {
          replies.push_back(replies[seen->second]);
          continue;
        }
        replies.push_back(deliver_one(request, address, box));
        delivered = delivered || replies.back().code == 250;
        if (box) written.emplace(key, replies.size() - 1);
      }
      if (delivered) receive_tls_reports(*request.data, request.id);
      loop->post([done = std::move(done), replies = std::move(replies)] { done(replies); });
    });
  }

 private:
  static Reply deliver_one(const LocalRequest& request, const std::string& address,
                           const std::optional<inbound::LocalMailbox>& box) {
    if (!box) return reply_of(550, "5.1.1 <" + address + ">: no such mailbox here");
    auto s = inbound::deliver_maildir(request.config->inbound.maildir_root, *box, request.folder,
                                      request.sender, address, *request.data);
    if (!s) return reply_of(451, "4.3.0 local delivery failed: " + s.message());
    return reply_of(250, "2.0.0 delivered to maildir " + box->domain + "/" + box->mailbox);
  }

  Loop& loop_;
  WorkerPool& workers_;
};

}  // namespace

std::unique_ptr<LocalDelivery> make_maildir_delivery(Loop& loop, WorkerPool& workers) {
  return std::make_unique<MaildirDelivery>(loop, workers);
}

}  // namespace hato::relay
