// `certrotd ca init --dir DIR [--intermediate]`: a development CA in one command.
#pragma once

#include <filesystem>

#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"
#include "x509/types.hpp"

namespace certrotd::issuer {

struct CaInitOptions {
  std::filesystem::path dir;
  bool intermediate = false;
  std::string common_name = "certrotd development root CA";
  x509::KeySpec key;  // EC P-256 unless told otherwise
  Millis root_lifetime = std::chrono::hours(24 * 3650);
  Millis intermediate_lifetime = std::chrono::hours(24 * 365);
  bool overwrite = false;  // refuse to clobber an existing CA
};

struct CaInitResult {
  std::filesystem::path ca_cert;            // DIR/ca.pem
  std::filesystem::path ca_key;             // DIR/ca.key (0600)
  std::filesystem::path intermediate_cert;  // DIR/intermediate.pem (empty without --intermediate)
  std::filesystem::path intermediate_key;   // DIR/intermediate.key (0600)
};

// Root: self-signed, basicConstraints critical CA:TRUE, keyUsage critical keyCertSign+cRLSign,
// SKI. Intermediate: signed by the root, pathlen:0. Key files are created 0600.
Result<CaInitResult> init_ca(const CaInitOptions& options, const Clock& clock, Random& random);

}  // namespace certrotd::issuer
