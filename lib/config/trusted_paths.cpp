#include "config/trusted_paths.hpp"

#include <string>

#include "util/trusted_path.hpp"

namespace certrotd::config::detail {

namespace {

std::string instead_for(const Error& error) {
  const std::string& component = error.context;
  if (component.empty()) return "write a path whose folders belong to root";
  return "make " + component + " belong to root and writable only by root (chown root:root " +
         component + "; chmod go-w " + component +
         "), or write a path whose folders and links only root can change";
}

std::string untrusted_text(std::string_view what, const std::filesystem::path& path,
                           const Error& error) {
  return std::string(what) + " " + path.string() + " cannot be trusted: " + error.message;
}

}  // namespace

void check_trusted_outputs(const std::vector<PendingCredential>& credentials, Problems& problems) {
  TrustedDirChecker checker(PathTrust::of_this_process());
  const auto check = [&](const std::filesystem::path& path, const Mark& mark,
                         std::string_view what) {
    auto checked = checker.check(path);
    // An I/O error (e.g. `check` run by a user who may not look inside) says nothing about
    // trust; the daemon reports it when it opens the folder.
    if (checked || checked.error().retryable()) return;
    problems.add(mark, untrusted_text(what, path, checked.error()), instead_for(checked.error()));
  };
  // Outputs first, then copies: neighbours usually share a parent, which the checker remembers.
  for (const PendingCredential& c : credentials) {
    check(c.config.output.dir, c.output_dir_mark, "output dir");
  }
  for (const PendingCredential& c : credentials) {
    for (std::size_t i = 0; i < c.config.output.copies.size(); ++i) {
      check(c.config.output.copies[i].path.parent_path(), c.copy_marks[i], "copy folder");
    }
  }
}

void check_trusted_folder(const std::filesystem::path& path, const Mark& mark,
                          std::string_view what, const Reader& reader) {
  auto dir = open_trusted_dir(path, PathTrust::of_this_process(), MissingFolders::accept);
  // An I/O error (e.g. `check` run by a user who may not look inside) says nothing about trust;
  // the daemon reports it when it opens the folder.
  if (dir || dir.error().retryable()) return;
  reader.add(mark, untrusted_text(what, path, dir.error()), instead_for(dir.error()));
}

void check_trusted_program(const std::filesystem::path& path, const Mark& mark,
                           const Reader& reader) {
  auto checked = check_trusted_file(path, PathTrust::of_this_process());
  // A program that is not there yet (or cannot be looked at) is reported when it is run.
  if (checked || checked.error().retryable()) return;
  reader.add(mark, untrusted_text("exec program", path, checked.error()),
             instead_for(checked.error()));
}

}  // namespace certrotd::config::detail
