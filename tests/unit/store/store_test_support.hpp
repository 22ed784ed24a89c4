// Helpers shared by the store tests: credential texts that carry a version number everywhere,
// so that a file from one version next to a file from another is detectable.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "store/credential_store.hpp"

namespace certrotd::store::test {

// `padding` bytes make each file span several write() calls and pages, so a torn file would
// show up as a wrong length or a missing end marker.
inline CredentialFiles files_for(int n, std::size_t padding = 0) {
  const std::string tag = std::to_string(n);
  const std::string pad(padding, 'x');
  const auto text = [&](const std::string& what) {
    return what + "-" + tag + "\n" + (pad.empty() ? "" : pad + "\n") + "END-" + what + "-" + tag +
           "\n";
  };
  return CredentialFiles{text("CERT"), text("CHAIN"), text("KEY"), text("CA")};
}

// The number in the first line ("CERT-12"), or nullopt when the text is not one of ours.
inline std::optional<int> version_of(const std::string& text) {
  const auto dash = text.find('-');
  const auto eol = text.find('\n');
  if (dash == std::string::npos || eol == std::string::npos || dash > eol) return std::nullopt;
  try {
    return std::stoi(text.substr(dash + 1, eol - dash - 1));
  } catch (...) {
    return std::nullopt;
  }
}

inline mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// A group other than our own when we may chown to it, so that the test proves the chown.
inline gid_t test_group() { return ::geteuid() == 0 ? 4242 : ::getegid(); }

}  // namespace certrotd::store::test
