// faults.h - the failing-disk switches of powercut_fs (issue 25 item 3), set through the
// control file like the cut:
//   fail-sync PREFIX          fsync, fdatasync and a directory's fsync of paths under PREFIX
//                             return EIO; nothing is made durable (the changes stay unsynced,
//                             so a cut still loses them), until "clear"
//   fail-write eio|enospc PREFIX
//                             writes to files under PREFIX fail with that error, nothing is
//                             written, until "clear"
//   sync-delay MS             every fsync/fdatasync/directory fsync first sleeps MS ms (outside
//                             the file system's lock, so other calls go on meanwhile)
//   clear                     no faults
// PREFIX is a path in the mount ("/data/queue"); "/" is everything. A file's path is the one it
// was opened under.
#pragma once

#include <cerrno>
#include <string>

namespace powercut {

struct Faults {
  std::string fail_sync;   // prefix, "" for none
  std::string fail_write;  // prefix, "" for none
  int write_error = EIO;
  unsigned sync_delay_ms = 0;

  static bool under(const std::string& path, const std::string& prefix) {
    if (prefix.empty()) return false;
    if (prefix == "/") return true;
    return path == prefix || path.rfind(prefix + "/", 0) == 0;
  }

  // Returns 1 when `c` is not a fault command, 0 when done, or -EINVAL.
  int command(const std::string& c) {
    if (c == "clear") {
      *this = Faults();
    } else if (c.rfind("fail-sync ", 0) == 0) {
      fail_sync = c.substr(10);
    } else if (c.rfind("fail-write ", 0) == 0) {
      std::string rest = c.substr(11);
      auto space = rest.find(' ');
      if (space == std::string::npos) return -EINVAL;
      std::string kind = rest.substr(0, space);
      if (kind != "eio" && kind != "enospc") return -EINVAL;
      write_error = kind == "eio" ? EIO : ENOSPC;
      fail_write = rest.substr(space + 1);
    } else if (c.rfind("sync-delay ", 0) == 0) {
      sync_delay_ms = static_cast<unsigned>(std::stoul(c.substr(11)));
    } else {
      return 1;
    }
    return 0;
  }

  std::string status() const {
    return " fail_sync=" + (fail_sync.empty() ? std::string("-") : fail_sync) +
           " fail_write=" + (fail_write.empty() ? std::string("-") : fail_write) +
           (fail_write.empty()   ? ""
            : write_error == EIO ? ":eio"
                                 : ":enospc") +
           " sync_delay_ms=" + std::to_string(sync_delay_ms);
  }
};

}  // namespace powercut
