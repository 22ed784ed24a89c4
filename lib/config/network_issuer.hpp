// Private to lib/config: the `http` and `cfssl` issuer sections.
#pragma once

#include <optional>
#include <string_view>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace certrotd::config::detail {

std::optional<IssuerConfig> read_network_issuer(const Field& entry, const Reader& reader,
                                                std::string_view type);

}  // namespace certrotd::config::detail
