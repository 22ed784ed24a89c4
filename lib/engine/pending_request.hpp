// The request an issuer holds for approval (issuer::NotYet: EST 202 Accepted), kept so that the
// same key and CSR go again until it answers. RFC 7030 §4.2.3 asks for the identical request, and
// servers that tie manual approval to the first request never approve a new key; a new key per
// attempt would also leave the certificate, once approved, for a key certrotd no longer has.
//
// Kept in `<state_dir>/pending/<credential>.pem` (store::StateFiles::save_pending: 0600, atomic,
// through descriptors): the key as PKCS#8 PEM (encrypted with the credential's key passphrase
// when it has one), then the CSR. Written on the first "not yet", used by every attempt after it
// (also after a restart), removed once the issuer answered with a certificate or failed
// permanently. A transient failure (network, 5xx) keeps it: the request is still pending there.
// Only for issuers that take a CSR (server-generated keys have nothing to keep).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/rotation.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {

struct PendingRequest {
  x509::PrivateKey key;
  std::string csr_pem;
};

// The kept request when it still asks for what the configuration asks: a key of the configured
// type (or of a type `also_wanted` accepts: the one the issuer asked for, Issuer::requested_key,
// consulted only for a kept key of another type), and the CertificationRequestInfo a CSR built
// now with that key would have. A kept one that no longer does (the configuration changed) or
// that does not parse is removed, and nullopt returned: the rotation starts afresh. An error when
// the file cannot be read (retryable I/O).
Result<std::optional<PendingRequest>> resume_pending(
    const CredentialPlan& plan, std::optional<std::string_view> passphrase,
    const std::function<bool(const x509::KeySpec&)>& also_wanted = {});

// Keeps `pending` for the next attempts. The PEM text is wiped after writing.
Result<void> keep_pending(const CredentialPlan& plan, const PendingRequest& pending,
                          std::optional<std::string_view> passphrase);

// Removes the kept request, if any (an error: it stays, and resume_pending judges it next time).
Result<void> forget_pending(const CredentialPlan& plan);

}  // namespace certrotd::engine
