// The issuer types of this build. Adding one: its folder lib/issuer/<type>/ with a function
// returning its IssuerType, and here its header and one line.
#include "issuer/acme/acme.hpp"
#include "issuer/cfssl/cfssl.hpp"
#include "issuer/est/est.hpp"
#include "issuer/http/http_issuer.hpp"
#include "issuer/local/local.hpp"
#include "issuer/registry.hpp"
#include "issuer/sap_service_manager/sap_service_manager.hpp"

namespace certrotd::issuer {

IssuerRegistry builtin_issuers() {
  IssuerRegistry registry;
  registry.add(local_issuer_type());
  registry.add(http_issuer_type());
  registry.add(cfssl_issuer_type());
  registry.add(sap_service_manager_issuer_type());
  registry.add(est_issuer_type());
  registry.add(acme_issuer_type());
  return registry;
}

}  // namespace certrotd::issuer
