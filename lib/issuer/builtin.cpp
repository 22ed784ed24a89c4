// The issuer types of this build. Adding one: its folder lib/issuer/<type>/ with a function
// returning its IssuerType, and here its header and one line.
#include "issuer/acme/acme.hpp"
#include "issuer/cfssl/cfssl.hpp"
#include "issuer/http/http_issuer.hpp"
#include "issuer/local/local.hpp"
#include "issuer/registry.hpp"

namespace certrotd::issuer {

IssuerRegistry builtin_issuers() {
  IssuerRegistry registry;
  registry.add(local_issuer_type());
  registry.add(http_issuer_type());
  registry.add(cfssl_issuer_type());
  registry.add(acme_issuer_type());
  return registry;
}

}  // namespace certrotd::issuer
