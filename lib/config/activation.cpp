// Reading a credential's `activation:` and `on_staged:`, and the checks that need its lifetime.

#include <string>

#include "config/loader.hpp"
#include "util/duration.hpp"

namespace certrotd::config::detail {

namespace {

constexpr std::string_view k_activation_example =
    "activation: { mode: staged, activate_after: 24h, activate_before_expiry: 1d }";

// A name an exec argument uses for a file holding the private key: the key or the bundle of the
// output folder or of `next/`.
bool names_secret_file(std::string_view arg) {
  for (const std::string_view secret : {"key.pem", "bundle.pem"}) {
    if (arg.size() >= secret.size() && arg.substr(arg.size() - secret.size()) == secret) {
      return true;
    }
  }
  return false;
}

}  // namespace

void read_activation(const Field& field, const Reader& reader, PendingCredential& credential) {
  schedule::Activation& activation = credential.config.activation;
  credential.activation_mark = field.key_mark;
  const auto fields = reader.fields(*field.value, field.value_mark, "activation",
                                    {"mode", "activate_after", "activate_before_expiry"},
                                    k_activation_example);
  if (!fields) return;
  if (const Field* f = fields->get("mode")) {
    if (auto v = reader.string(*f)) {
      if (*v == "immediate") {
        activation.mode = schedule::ActivationMode::immediate;
      } else if (*v == "staged") {
        activation.mode = schedule::ActivationMode::staged;
      } else {
        reader.add(f->value_mark, "unknown activation mode '" + *v + "'",
                   "write mode: immediate (swap at once) or mode: staged (publish as next/ first)");
      }
    }
  }
  if (const Field* f = fields->get("activate_after")) {
    if (auto d = reader.duration(*f, Millis(std::chrono::seconds(1)))) {
      activation.activate_after = *d;
      credential.activate_after_mark = f->value_mark;
    }
  }
  if (const Field* f = fields->get("activate_before_expiry")) {
    if (auto d = reader.duration(*f, Millis(std::chrono::seconds(1)))) {
      activation.activate_before_expiry = *d;
      credential.activate_before_expiry_mark = f->value_mark;
    }
  }
}

void read_on_staged(const Field& field, const Reader& reader, CredentialConfig& config) {
  read_on_rotate(field, reader, config.on_staged);
  // The staged version is for partners to import: its certificate and chain are public, its
  // key is not, and an action list is no place to hand a key to someone else.
  for (const notify::Action& action : config.on_staged) {
    const auto* exec = std::get_if<notify::ExecAction>(&action.what);
    if (!exec) continue;
    for (std::size_t i = 1; i < exec->command.size(); ++i) {
      if (!names_secret_file(exec->command[i])) continue;
      reader.add(field.key_mark,
                 "on_staged action " + notify::describe(action) + " is handed '" +
                     exec->command[i] + "', which holds the staged private key",
                 "publish only the certificate and chain, e.g. next/fullchain.pem or "
                 "next/cert.pem; the key never leaves the output folder");
    }
  }
}

void check_activation(const PendingCredential& credential, std::optional<Millis> lifetime,
                      Problems& problems) {
  const CredentialConfig& config = credential.config;
  const schedule::Activation& activation = config.activation;
  if (!config.on_staged.empty() && activation.mode != schedule::ActivationMode::staged &&
      credential.on_staged_mark) {
    problems.add(*credential.on_staged_mark,
                 "on_staged is set but credential '" + config.name + "' activates immediately",
                 "write activation: { mode: staged } or remove on_staged");
  }
  if (activation.mode != schedule::ActivationMode::staged || !lifetime) return;
  // What is left of the live certificate when it renews: the staged version must wait for less
  // than that, or it goes live the moment it is staged and partners get no time to import it.
  Millis left = std::chrono::duration_cast<Millis>(*lifetime * (1.0 - config.policy.renew_at));
  if (config.policy.renew_before && *config.policy.renew_before < left) {
    left = *config.policy.renew_before;
  }
  if (activation.activate_before_expiry < left) return;
  const Mark at = credential.activate_before_expiry_mark.value_or(
      credential.activation_mark.value_or(config.mark));
  problems.add(at,
               "activate_before_expiry " + format_duration(activation.activate_before_expiry) +
                   " is not shorter than the " + format_duration(left) +
                   " the live certificate has left when credential '" + config.name +
                   "' renews: the staged version would go live at once",
               "write activate_before_expiry: " + format_duration(left / 4) +
                   " or less, or renew earlier (renew_before longer than "
                   "activate_before_expiry)");
}

}  // namespace certrotd::config::detail
