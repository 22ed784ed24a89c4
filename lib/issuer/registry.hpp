// The issuer types certrotd knows, one entry each: how a type reads its section of the
// configuration, builds its Issuer, and what the chains it hands out must verify to.
// config/ reads `issuers.<name>` through the entry its `type:` names and keeps the entry with
// the options; engine/ builds issuers and loads their roots through it. An issuer type is a
// folder lib/issuer/<type>/ whose entry is listed once, in builtin_issuers() (builtin.cpp).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_client.hpp"
#include "http/transport.hpp"
#include "issuer/issuer.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "yaml/reader.hpp"

namespace certrotd::issuer {

// A type's settings as read from its section; each type derives its own and casts back with
// options_as<T>() in its factory.
class IssuerOptions {
public:
  virtual ~IssuerOptions() = default;
  // The longest lifetime this issuer grants, when its configuration says so (the local CA's
  // `lifetime`): loading checks renew_before against it. nullopt: only the issuer knows.
  virtual std::optional<Millis> max_lifetime() const { return std::nullopt; }
  // Whether this issuer makes the keys itself (Issuer::generates_keys of what `create` builds):
  // loading refuses `key: { reuse: true }` for its credentials.
  virtual bool generates_keys() const { return false; }
  // Whether ca.pem holds roots the issuer named (EST's trust.from_issuer): `status` lists them.
  virtual bool names_roots() const { return false; }

protected:
  IssuerOptions() = default;
  IssuerOptions(const IssuerOptions&) = default;
  IssuerOptions& operator=(const IssuerOptions&) = default;
  IssuerOptions(IssuerOptions&&) = default;
  IssuerOptions& operator=(IssuerOptions&&) = default;
};

// The options an entry's own reader made. Another type's options here is a programming error:
// dynamic_cast throws std::bad_cast, which no caller catches.
template <class T>
const T& options_as(const IssuerOptions& options) {
  return dynamic_cast<const T&>(options);
}

// A managed credential's live files, read at each use; nullopt while it has none yet.
using CredentialFiles = std::function<Result<std::optional<CurrentCredential>>()>;

// What building one issuer may use; all of it comes from the caller.
struct IssuerContext {
  std::string name;  // the issuer's key under `issuers:`
  const Clock* clock = nullptr;
  Random* random = nullptr;
  // Null unless some issuer in use needs the network (a local-only daemon never starts libcurl).
  std::shared_ptr<http::Transport> transport;
  std::shared_ptr<auth::TokenSource> tokens;
  std::optional<std::filesystem::path> credentials_directory;  // $CREDENTIALS_DIRECTORY
  // The credential of that name; nullopt when the configuration defines none.
  std::function<std::optional<CredentialFiles>(const std::string& credential)> credential;
  // Where issuers keep what they own across restarts (an ACME account: <state_dir>/acme/<name>).
  std::optional<std::filesystem::path> state_directory;
  // A listening socket the service manager passed under the name "acme" (socket activation of
  // the ACME http-01 responder), collected by the daemon; -1 when none. Not owned.
  int acme_socket = -1;
  // Loud notices about one credential (bootstrap auth in use); never secrets. May be empty.
  std::function<void(const std::string& credential, const std::string& message)> warn;
  // Another issuer of the configuration, by its name under `issuers:`, for a type that has its
  // certificates made there (SAP's self-managed bindings); null when there is none. Complete
  // only once every issuer is built: call it when issuing, never in `create`. May be empty.
  std::function<std::shared_ptr<Issuer>(const std::string& issuer)> issuer;
};

using Anchors = std::vector<x509::Certificate>;

struct IssuerType {
  std::string name;  // what `type:` says
  // Whether its issuers talk HTTPS: the engine creates the transport and token client first.
  bool needs_network = false;
  // Reads the type's keys of `issuers.<name>` (`entry`); every problem goes to the reader.
  // nullptr when something was wrong. Start with issuer_fields() so the common keys pass.
  std::function<std::shared_ptr<const IssuerOptions>(const yaml::Field& entry,
                                                     const yaml::Reader& reader)>
      read;
  // Builds an issuer from what `read` returned.
  std::function<Result<std::shared_ptr<Issuer>>(const IssuerOptions& options,
                                                const IssuerContext& context)>
      create;
  // The roots issued chains must verify to; empty: the roots the issuer reports itself
  // (IssuedCredential::ca), for an issuer that is its own authority.
  std::function<Result<Anchors>(const IssuerOptions& options)> anchors;
  // The roots a chain imported by hand must verify to; empty function: `anchors`.
  std::function<Result<Anchors>(const IssuerOptions& options)> import_anchors;
  // The key a credential of this type's issuers may have for settings of its own (`sap`);
  // empty: none. `read_credential` reads its value (every problem goes to the reader; nullptr
  // when something was wrong); the result reaches the issuer as IssueRequest::options.
  std::string credential_key = {};
  std::function<std::shared_ptr<const CredentialOptions>(const yaml::Field& field,
                                                         const yaml::Reader& reader)>
      read_credential = {};
  // Whether every credential of this type's issuers must have `credential_key`.
  bool credential_key_required = false;
  // How to write it, for the message when it is missing.
  std::string credential_example = {};
};

class IssuerRegistry {
public:
  // Aborts on a second entry of one name: the built-in list is written once, by hand.
  void add(IssuerType type);
  // The entry of `type:`; null when there is none.
  std::shared_ptr<const IssuerType> find(std::string_view name) const;
  // In the order added, for "did you mean" and the list of supported types.
  std::vector<std::string> names() const;
  // The entry whose credential_key is `key`; null when there is none.
  std::shared_ptr<const IssuerType> find_by_credential_key(std::string_view key) const;
  // Every entry's credential_key, in the order added.
  std::vector<std::string> credential_keys() const;

private:
  std::vector<std::shared_ptr<const IssuerType>> m_types;
};

// The types this build of certrotd has (builtin.cpp, one line each).
IssuerRegistry builtin_issuers();

// The keys config/ reads in every issuer section, whatever its type.
std::vector<std::string> common_issuer_keys();

// The checked keys of the issuer section `entry`: `type`, the type's own `keys`, and the common
// keys, each given once; unknown keys are reported with a hint. nullopt when it is not a mapping.
std::optional<yaml::Fields> issuer_fields(const yaml::Field& entry, const yaml::Reader& reader,
                                          const std::vector<std::string>& keys,
                                          std::string_view example);

// "'name'", as messages quote names.
std::string in_quotes(std::string_view text);

}  // namespace certrotd::issuer
