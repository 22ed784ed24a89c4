#include "engine/sandbox.hpp"

#include <algorithm>
#include <array>
#include <variant>

namespace certrotd::engine {

namespace {

namespace fs = std::filesystem;

// `path` is `folder` or lies below it; both absolute, compared as written (lexically).
bool lies_in(const fs::path& path, const fs::path& folder) {
  const fs::path p = path.lexically_normal();
  const fs::path f = folder.lexically_normal();
  auto [fi, pi] = std::mismatch(f.begin(), f.end(), p.begin(), p.end());
  // A trailing slash in `folder` leaves an empty last element.
  return fi == f.end() || (std::next(fi) == f.end() && fi->empty());
}

bool writable_in(const fs::path& path, const std::vector<fs::path>& writable) {
  return std::any_of(writable.begin(), writable.end(),
                     [&](const fs::path& w) { return lies_in(path, w); });
}

// ProtectHome=yes and PrivateTmp=yes: the daemon sees these empty (or not at all).
constexpr std::array<const char*, 5> k_hidden = {"/home", "/root", "/run/user", "/tmp",
                                                 "/var/tmp"};

const char* hidden_folder(const fs::path& path) {
  for (const char* hidden : k_hidden) {
    if (lies_in(path, hidden)) return hidden;
  }
  return nullptr;
}

class Reporter {
public:
  explicit Reporter(const std::vector<fs::path>& writable) : m_writable(writable) {}

  // `folder` must be writable for `what` (a folder the daemon writes in).
  void needs_writable(const std::string& what, const fs::path& folder) {
    if (writable_in(folder, m_writable)) return;
    m_report.warnings.push_back(what + ": " + folder.string() +
                                " lies outside the unit's ReadWritePaths=, so it is read-only "
                                "under the hardened unit");
    if (std::find(m_report.missing.begin(), m_report.missing.end(), folder) ==
        m_report.missing.end()) {
      m_report.missing.push_back(folder);
    }
  }

  void must_be_visible(const std::string& what, const fs::path& path) {
    if (const char* hidden = hidden_folder(path)) {
      m_report.warnings.push_back(what + ": " + path.string() + " lies in " + hidden +
                                  ", which the hardened unit hides (ProtectHome=, PrivateTmp=); "
                                  "install it elsewhere, e.g. /usr/local/lib/certrotd");
    }
  }

  SandboxReport take() { return std::move(m_report); }

private:
  const std::vector<fs::path>& m_writable;
  SandboxReport m_report;
};

}  // namespace

SandboxReport check_sandbox(const config::Config& config, const std::vector<fs::path>& writable) {
  Reporter reporter(writable);
  reporter.needs_writable("state_dir", config.state_dir);
  for (const auto& credential : config.credentials) {
    const std::string who = "credential '" + credential.name + "'";
    reporter.needs_writable(who + ": output folder", credential.output.dir);
    for (const auto& copy : credential.output.copies) {
      reporter.needs_writable(who + ": copy " + copy.path.string() + ": folder",
                              copy.path.parent_path());
    }
    for (const auto& action : credential.on_rotate) {
      const auto* exec = std::get_if<notify::ExecAction>(&action.what);
      if (exec && !exec->command.empty() && fs::path(exec->command.front()).is_absolute()) {
        reporter.must_be_visible(who + ": exec hook", exec->command.front());
      }
    }
  }
  return reporter.take();
}

std::string read_write_paths_drop_in(const std::vector<fs::path>& missing) {
  std::string text = "[Service]\n";
  for (const auto& folder : missing) text += "ReadWritePaths=" + folder.string() + "\n";
  return text;
}

}  // namespace certrotd::engine
