// Which paths certrotd writes may not overlap: an output dir is replaced as a whole at every
// rotation, a copy is one file, and state_dir holds the state files. Overlaps made one
// credential serve another's certificate with its own key, so they are refused at load time.
//
// Paths are compared as text, lexically normalised and absolute as the reader makes them; no
// file is looked at (symlinks are the path-trust check's business). Sorting with '/' below every
// other character puts each path right before everything inside it, so one pass with a stack
// of enclosing paths finds every overlap in O(n log n): 10,000 credentials stay fast.
#include <algorithm>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace certrotd::config::detail {

namespace {

enum class Role { output_dir, copy, state_dir };

// A path certrotd writes, and who named it.
struct Claim {
  std::string_view path;
  Role role;
  const PendingCredential* credential;  // null for state_dir
  Mark mark;                            // no file: the built-in default
  std::size_t order;                    // reading order: a clash is reported at the later one
};

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// Path order with '/' first, so that "/a/b" < "/a/b/c" < "/a/b-c".
bool path_less(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

// `inner` is `outer` or lies inside it.
bool within(std::string_view outer, std::string_view inner) {
  if (!inner.starts_with(outer)) return false;
  return inner.size() == outer.size() || outer.ends_with('/') || inner[outer.size()] == '/';
}

std::string parent_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string_view::npos ? "/" : std::string(path.substr(0, slash));
}

std::string where(const Claim& c) {
  return c.mark.file().empty() ? "the default" : c.mark.to_string();
}

// "output dir /srv/a of credential 'a'": the side a problem is reported at.
std::string subject(const Claim& c) {
  switch (c.role) {
    case Role::output_dir:
      return "output dir " + std::string(c.path) + " of credential " +
             in_quotes(c.credential->config.name);
    case Role::copy:
      return "copy " + std::string(c.path) + " of credential " +
             in_quotes(c.credential->config.name);
    case Role::state_dir: break;
  }
  return "state_dir " + std::string(c.path);
}

// "the output dir /srv of credential 'b' (config.yaml:9:20)": the other side.
std::string object(const Claim& c, bool same_path) {
  const std::string path = same_path ? std::string() : std::string(c.path) + " ";
  std::string text;
  switch (c.role) {
    case Role::output_dir:
      text = "the output dir " + path + "of credential " + in_quotes(c.credential->config.name);
      break;
    case Role::copy:
      text = "the copy " + path + "of credential " + in_quotes(c.credential->config.name);
      break;
    case Role::state_dir:
      text = "the state_dir " + path;
      text.pop_back();
      break;
  }
  return text + " (" + where(c) + ")";
}

// What to write instead, for `inner` at or inside `outer`.
std::string advice(const Claim& outer, const Claim& inner, const std::string& state_dir) {
  const bool same = outer.path == inner.path;
  if (same && outer.role == Role::copy && inner.role == Role::copy) {
    return "write each file from one credential and one copy entry only";
  }
  if (outer.role == Role::copy || (same && inner.role == Role::copy)) {
    return "a copy is one file, so nothing can share its path or lie inside it; give each its "
           "own path";
  }
  if (outer.role == Role::state_dir || inner.role == Role::state_dir) {
    const Claim& other = outer.role == Role::state_dir ? inner : outer;
    if (other.role == Role::output_dir && outer.role == Role::state_dir) {
      return "leave output.dir out to use " + state_dir + "/live/" + other.credential->config.name +
             ", or choose a folder outside " + state_dir;
    }
    return "keep state_dir apart from every output dir and copy: certrotd keeps its state "
           "files there";
  }
  if (inner.role == Role::copy) {
    return "write the copy outside every output dir, whose contents certrotd replaces at each "
           "rotation; a consumer may read " +
           std::string(outer.path) + "/<file> directly";
  }
  if (same) return "give each credential its own output dir";
  std::string advice = "give each credential a folder of its own, side by side";
  const std::string beside = parent_of(outer.path) + "/" + inner.credential->config.name;
  // Not an example that the state_dir rule would refuse next.
  if (!within(state_dir, beside)) advice += ", e.g. dir: " + beside;
  return advice;
}

// State_dir/live/<name> is where output dirs go by default, so output dirs below
// state_dir/live are expected; anything else inside state_dir is not.
bool allowed_in_state_dir(const Claim& state, const Claim& inner) {
  if (inner.role != Role::output_dir) return false;
  const std::string live = std::string(state.path) + (state.path.ends_with('/') ? "" : "/") +
                           "live";
  return within(live, inner.path) && inner.path.size() > live.size();
}

void report(const Claim& outer, const Claim& inner, const std::string& state_dir,
            Problems& problems) {
  if (outer.role == Role::state_dir && allowed_in_state_dir(outer, inner)) return;
  const bool same = outer.path == inner.path;
  // Reported at the side written later (state_dir counts as first: it is set once, in the main
  // file), naming the other side's position.
  const bool at_inner = inner.order > outer.order;
  const Claim& at = at_inner ? inner : outer;
  const Claim& other = at_inner ? outer : inner;
  std::string what;
  if (same && at.role == Role::copy && other.role == Role::copy) {
    what = "copy " + std::string(at.path) + " is already written by credential " +
           in_quotes(other.credential->config.name) + " (" + where(other) + ")";
  } else {
    const std::string relation = same ? " is also " : at_inner ? " is inside " : " contains ";
    what = subject(at) + relation + object(other, same);
  }
  problems.add(at.mark, what, advice(outer, inner, state_dir));
}

}  // namespace

void check_output_paths(const std::vector<PendingCredential>& credentials,
                        const fs::path& state_dir, const Mark& state_dir_mark, Problems& problems) {
  std::vector<Claim> claims;
  const std::string state = state_dir.lexically_normal().native();
  claims.push_back(Claim{state, Role::state_dir, nullptr, state_dir_mark, 0});
  for (const auto& c : credentials) {
    // Its name is reported already; the folder made from it would only add noise.
    if (!is_safe_file_name(c.config.name)) continue;
    claims.push_back(
        Claim{c.config.output.dir, Role::output_dir, &c, c.output_dir_mark, claims.size()});
    for (std::size_t i = 0; i < c.config.output.copies.size(); ++i) {
      claims.push_back(Claim{c.config.output.copies[i].path.native(), Role::copy, &c,
                             c.copy_marks[i], claims.size()});
    }
  }
  // Stable: claims of one path stay in reading order, so the later one is reported.
  std::stable_sort(claims.begin(), claims.end(),
                   [](const Claim& a, const Claim& b) { return path_less(a.path, b.path); });
  std::vector<const Claim*> enclosing;
  for (const Claim& claim : claims) {
    while (!enclosing.empty() && !within(enclosing.back()->path, claim.path)) {
      enclosing.pop_back();
    }
    if (!enclosing.empty()) report(*enclosing.back(), claim, state, problems);
    enclosing.push_back(&claim);
  }
}

}  // namespace certrotd::config::detail
