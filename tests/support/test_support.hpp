// Helpers shared by the test suites: a fresh temporary root per test and a way to run commands
// (the openssl CLI, the certrotd binary) and capture what they print.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace certrotd::testing {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return m_path; }
  fs::path operator/(const std::string& name) const { return m_path / name; }

private:
  fs::path m_path;
};

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (no shell) and waits for it.
CommandResult run_command(const std::vector<std::string>& argv);

void write_text(const fs::path& path, const std::string& text);
std::string read_text(const fs::path& path);

}  // namespace certrotd::testing
