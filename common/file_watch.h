// file_watch.h - notices that files were rewritten or replaced, by polling their inode,
// mtime and size (symlinks followed): a certificate renewed by certbot, a users file
// rewritten by `hato user add`. Polling works for every way a file can change (rename
// over it, an edit in place, a symlink swapped by lego) where inotify needs care for each.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/loop.h"
#include "common/status.h"

namespace hato {

// The state of `paths` as one string; empty when one of them is missing.
std::string file_stamp(const std::vector<std::string>& paths);

class FileWatch {
 public:
  // `reload` runs on the loop when the files change; an error is logged (once per change,
  // under `what`) and the reload is tried again after the next change.
  FileWatch(Loop& loop, std::string what, std::function<Status()> reload,
            std::chrono::milliseconds every = std::chrono::seconds(5));

  // Watches `paths` from their present state on; none: stops watching.
  void watch(std::vector<std::string> paths);
  // Checks now rather than at the next tick (a file was just written by us).
  void check_now() { check(); }

 private:
  void check();

  Timer timer_;
  std::string what_;
  std::function<Status()> reload_;
  std::chrono::milliseconds every_;
  std::vector<std::string> paths_;
  std::string seen_, failed_;
};

}  // namespace hato
