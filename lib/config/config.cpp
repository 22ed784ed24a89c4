#include "config/config.hpp"

#include <yaml-cpp/exceptions.h>

#include <algorithm>
#include <system_error>

#include "config/loader.hpp"
#include "util/files.hpp"
#include "yaml/reader.hpp"
#include "yaml/tree.hpp"

namespace certrotd::config {

const CredentialConfig* Config::find_credential(const std::string& name) const {
  const auto it = std::find_if(credentials.begin(), credentials.end(),
                               [&](const CredentialConfig& c) { return c.name == name; });
  return it == credentials.end() ? nullptr : &*it;
}

namespace {

// One file to read: its text, or why it could not be read.
struct Source {
  std::string name;  // as shown in messages
  fs::path base_dir;
  Result<std::string> text;
};

// The single YAML document of a file; a syntax error is reported at its position.
std::optional<detail::YamlNode> parse_yaml(const Source& source, detail::Problems& problems) {
  try {
    std::vector<detail::YamlNode> documents = yaml::parse_yaml_documents(*source.text);
    if (documents.empty()) return detail::YamlNode();
    if (documents.size() > 1) {
      const detail::YamlNode& second = documents[1];
      const Mark at = second.line() <= 0 ? Mark{source.name, 1, 1}
                                         : Mark{source.name, second.line(), second.column()};
      problems.add(at, "a second YAML document starts here, and only one is read per file",
                   "remove the '---' line; put further credentials in conf.d/*.yaml");
    }
    return std::move(documents.front());
  } catch (const yaml::YamlLimitError& e) {
    problems.add(Mark{source.name, e.mark.line + 1, e.mark.column + 1}, e.msg, e.instead);
  } catch (const YAML::Exception& e) {
    problems.add(Mark{source.name, e.mark.line + 1, e.mark.column + 1}, "invalid YAML: " + e.msg,
                 "check the indentation and quoting here and on the line before");
  }
  return std::nullopt;
}

Result<Config> load_sources(const std::vector<Source>& sources, const fs::path& main_file,
                            const issuer::IssuerRegistry& issuers) {
  detail::Problems problems;
  detail::Loader loader(problems, issuers);
  for (const auto& source : sources) problems.add_source(source.name);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const Source& source = sources[i];
    if (!source.text) {
      problems.add_unpositioned(source.name,
                                "cannot read the configuration: " + source.text.error().message,
                                "check that it is a regular file that exists and that "
                                "certrotd may read it");
      continue;
    }
    const auto root = parse_yaml(source, problems);
    if (!root) continue;
    const detail::Reader reader(source.name, source.base_dir, problems);
    if (i == 0) {
      loader.read_main(*root, reader);
    } else {
      loader.read_drop_in(*root, reader);
    }
  }
  auto config = loader.finish(main_file);
  if (!config) return fail(problems.render());
  return std::move(*config);
}

// conf.d/*.yaml beside the main file, by name. Hidden files (editor backups) and folders are
// skipped; any other entry named *.yaml is read, so that a FIFO, a socket or a device there is
// reported (read_file refuses it) rather than silently left out.
Result<std::vector<fs::path>> drop_in_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (name.starts_with(".") || p.extension() != ".yaml") continue;
    std::error_code type_ec;  // a broken link is not a folder: read_file reports it
    if (it->is_directory(type_ec)) continue;
    out.push_back(p);
  }
  if (ec) return fail("cannot list " + dir.string() + ": " + ec.message(), dir.string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<Config> load_config(const fs::path& file, const issuer::IssuerRegistry& issuers) {
  std::error_code ec;
  fs::path absolute = fs::absolute(file, ec);
  if (ec) absolute = file;
  const fs::path base_dir = absolute.parent_path();
  std::vector<Source> sources;
  sources.push_back(Source{file.string(), base_dir, read_file(file)});
  if (sources.front().text) {
    auto drop_ins = drop_in_files(base_dir / "conf.d");
    if (!drop_ins) return fail(drop_ins.error());
    for (const auto& p : *drop_ins) {
      // Named as the user would find them: beside the main file as it was given.
      const fs::path shown = file.parent_path() / "conf.d" / p.filename();
      sources.push_back(Source{shown.string(), base_dir / "conf.d", read_file(p)});
    }
  }
  return load_sources(sources, absolute, issuers);
}

Result<Config> load_config(const fs::path& file) {
  return load_config(file, issuer::builtin_issuers());
}

Result<Config> parse_config(const std::string& yaml_text, const std::string& name,
                            const fs::path& base_dir, const issuer::IssuerRegistry& issuers) {
  return load_sources({Source{name, base_dir, yaml_text}}, base_dir / name, issuers);
}

Result<Config> parse_config(const std::string& yaml_text, const std::string& name,
                            const fs::path& base_dir) {
  return parse_config(yaml_text, name, base_dir, issuer::builtin_issuers());
}

}  // namespace certrotd::config
