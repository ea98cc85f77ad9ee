// maildir.h - local delivery into Maildirs (<root>/<domain>/<mailbox>/{tmp,new,cur}),
// the layout Dovecot and every IMAP server read.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "conf/config.h"

namespace hato::inbound {

// The mailbox a local address delivers to (aliases followed, "+tag" dropped),
// or nothing when the address is not local.
struct LocalMailbox {
  std::string domain;
  std::string mailbox;
};
std::optional<LocalMailbox> resolve_mailbox(const conf::Config& config, std::string_view address);

// Writes the message to tmp/, fsyncs it, renames it into new/ and fsyncs the
// directory: once this returns ok the message survives a crash. Errors (a
// full disk, permissions) are returned, never swallowed: the caller defers.
// `folder` is "" for the inbox or a Maildir++ folder such as "Junk". The file has LF line
// ends, as Maildir readers expect (Dovecot, mutt, mbsync): each CRLF of `message` becomes LF.
Status deliver_maildir(const std::string& root, const LocalMailbox& box, const std::string& folder,
                       const std::string& return_path, const std::string& recipient,
                       const std::string& message);

}  // namespace hato::inbound
