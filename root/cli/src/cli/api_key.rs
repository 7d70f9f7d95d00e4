//! `fanout api-key`: make a new API key, and the entry that lets a root accept it.

use clap::Args;
use fanout_root::auth::new_key;
use fanout_root::config::Role;

#[derive(Debug, Args)]
pub struct ApiKeyArgs {
    /// A name for the key (logs and rate limits show it; never the key itself).
    #[arg(long)]
    name: String,
    /// What the key may do: `search` (search, get) or `admin` (also the cluster view and
    /// metrics).
    #[arg(long, value_parser = parse_role, default_value = "search")]
    role: Role,
    /// A rate-limit tier ([rate_limit.tiers.NAME] in the cluster file).
    #[arg(long)]
    tier: Option<String>,
}

fn parse_role(role: &str) -> Result<Role, String> {
    match role {
        "search" => Ok(Role::Search),
        "admin" => Ok(Role::Admin),
        other => Err(format!("{other:?} is neither \"search\" nor \"admin\"")),
    }
}

pub fn run(args: ApiKeyArgs) {
    let (key, sha256) = new_key();
    let tier = args.tier.as_deref().map(|tier| format!("tier = \"{tier}\"\n")).unwrap_or_default();
    let short_tier = args.tier.as_deref().map(|tier| format!(":{tier}")).unwrap_or_default();
    // The key on stdout alone, for scripts; how to install it on stderr.
    println!("{key}");
    eprintln!(
        "\nGive the key above to its user (Authorization: Bearer <key>); the root stores only its SHA-256.\n\
         Add this entry to the keys file (--api-keys-file) or the cluster file (as [[auth.key]]):\n\n\
         [[key]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{sha256}\"\n{tier}\n\
         or to FANOUT_API_KEYS (comma-separated): {name}:{role}:{sha256}{short_tier}",
        name = args.name,
        role = args.role.name(),
    );
}
