// maildir.cc - Maildir delivery with unique names and fsync before rename.
#include "inbound/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/strings.h"
#include "inbound/recipients.h"
#include "policy/submission.h"

namespace hato::inbound {

namespace {

std::string hostname_for_names() {
  char buf[256] = "localhost";
  gethostname(buf, sizeof buf - 1);
  std::string h = buf;
  // '/' and ':' have meanings in Maildir names (RFC-less, but universal).
  for (auto& c : h)
    if (c == '/' || c == ':') c = '_';
  return h;
}

// A message in the queue's CRLF form, with LF line ends: what a Maildir file holds. A CR
// not before LF is content and stays.
std::string lf_lines(const std::string& message) {
  std::string out;
  out.reserve(message.size());
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;
    out += message[i];
  }
  return out;
}

}  // namespace

std::optional<LocalMailbox> resolve_mailbox(const conf::Config& config, std::string_view address) {
  if (check_recipient(config, address) != RecipientVerdict::kLocal) return std::nullopt;
  std::string_view local, domain;
  policy::split_address(address, &local, &domain);
  const conf::Domain* d = config.find_domain(domain);
  std::string box = ascii_lower(local);
  auto plus = box.find('+');
  for (const std::string& name : {box, plus == std::string::npos ? box : box.substr(0, plus)}) {
    if (std::find(d->mailboxes.begin(), d->mailboxes.end(), name) != d->mailboxes.end())
      return LocalMailbox{d->name, name};
    auto alias = d->aliases.find(name);
    if (alias != d->aliases.end()) return LocalMailbox{d->name, alias->second};
  }
  return std::nullopt;
}

Status deliver_maildir(const std::string& root, const LocalMailbox& box, const std::string& folder,
                       const std::string& return_path, const std::string& recipient,
                       const std::string& message) {
  std::string dir = root + "/" + box.domain + "/" + box.mailbox;
  if (!folder.empty()) dir += "/." + folder;
  for (const char* sub : {"/tmp", "/new", "/cur"})
    if (auto s = make_dirs_durably(dir + sub, 0700); !s) return s;

  // time.M<usec>P<pid>Q<counter>.host: unique within this host and process.
  static std::atomic<uint64_t> counter{0};
  static const std::string host = hostname_for_names();
  timeval tv;
  gettimeofday(&tv, nullptr);
  std::string name = std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" +
                     std::to_string(getpid()) + "Q" + std::to_string(++counter) + "." + host;
  std::string tmp = dir + "/tmp/" + name;
  std::string dst = dir + "/new/" + name;

  std::string head = "Return-Path: <" + return_path + ">\nDelivered-To: " + recipient + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error("cannot create " + tmp + ": " + std::strerror(errno));
  auto write_all = [fd](const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  };
  bool ok = write_all(head) && write_all(lf_lines(message)) && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::error("cannot write " + tmp + ": " + std::strerror(saved));
  }
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {
    saved = errno;
    ::unlink(tmp.c_str());
    return Status::error("cannot move " + tmp + " to new/: " + std::strerror(saved));
  }
  return sync_dir(dir + "/new");
}

}  // namespace hato::inbound
