// BenchDir: the folder a benchmark writes its data directories under: the one given, or a
// fresh temporary folder removed again when the BenchDir goes away.
//
//   BenchDir dir(absl::GetFlag(FLAGS_dir), "genfarm-core-bench");
//   if (!dir.ok()) return 1;            // mkdtemp failed; the error was printed
//   options.dir = dir.path();
#ifndef GENFARM_SCHEDULER_BENCH_BENCH_DIR_H_
#define GENFARM_SCHEDULER_BENCH_BENCH_DIR_H_

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace genfarm::scheduler {

class BenchDir {
 public:
  BenchDir(std::string given, const std::string& name) : path_(std::move(given)) {
    if (!path_.empty()) return;
    const char* tmp = getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, "-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror(absl::StrCat(name, ": mkdtemp").c_str());
      return;
    }
    path_ = pattern;
    temporary_ = true;
  }
  ~BenchDir() {
    if (!temporary_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool temporary_ = false;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_BENCH_BENCH_DIR_H_
