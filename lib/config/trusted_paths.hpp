// Private to lib/config: the load-time half of util/trusted_path. A configured output folder,
// copy folder, state_dir or exec program whose path someone other than root and certrotd's own
// user could redirect is a configuration error (exit 78 with the key's position), so that
// `certrotd check` finds it before the daemon would write a key through it.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "yaml/reader.hpp"

namespace certrotd::config::detail {

// Reports at `mark` when a component of the folder `path` (existing part only: certrotd creates
// the rest) cannot be trusted. `what` names the setting, e.g. "output dir".
void check_trusted_folder(const std::filesystem::path& path, const Mark& mark,
                          std::string_view what, const Reader& reader);

// The output folder and the copy folders of every credential, reported at their keys.
void check_trusted_outputs(const std::vector<PendingCredential>& credentials, Problems& problems);

// The same for a program run by an exec action: its folders and the file itself.
void check_trusted_program(const std::filesystem::path& path, const Mark& mark,
                           const Reader& reader);

}  // namespace certrotd::config::detail
