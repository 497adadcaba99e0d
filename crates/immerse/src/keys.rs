//! `immerse keys`: make and inspect signing keys.
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use immerse_jose::pkcs11::{DEFAULT_MODULE, PinSource, Pkcs11Config, Pkcs11Signer};
use immerse_jose::{Signer, SoftwareSigner};

use crate::CliError;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an ES256 key and print its public JWK.
    Generate(KeyLocation),
    /// Print the public JWK of an existing key.
    Show(KeyLocation),
}

/// Where a key lives: a PKCS#8 PEM file, or a PKCS#11 token.
#[derive(Debug, Args)]
pub struct KeyLocation {
    /// Software key: the PKCS#8 PEM file (written with mode 0600 by `generate`).
    #[arg(long, conflicts_with = "pkcs11", required_unless_present = "pkcs11")]
    key_file: Option<PathBuf>,

    /// Use a PKCS#11 token instead of a file.
    #[arg(long)]
    pkcs11: bool,

    /// PKCS#11 module.
    #[arg(long, default_value = DEFAULT_MODULE, env = "IMMERSE_PKCS11_MODULE")]
    module: PathBuf,

    /// Label of the token.
    #[arg(long, default_value = "immerse", env = "IMMERSE_PKCS11_TOKEN")]
    token: String,

    /// Label of the key on the token.
    #[arg(
        long,
        default_value = "immerse-signing",
        env = "IMMERSE_PKCS11_KEY_LABEL"
    )]
    label: String,

    /// Environment variable that holds the user PIN.
    #[arg(
        long,
        default_value = "IMMERSE_PKCS11_PIN",
        conflicts_with = "pin_file"
    )]
    pin_env: String,

    /// File that holds the user PIN.
    #[arg(long)]
    pin_file: Option<PathBuf>,
}

impl KeyLocation {
    /// A software key in `path`.
    pub fn file(path: PathBuf) -> Self {
        Self {
            key_file: Some(path),
            pkcs11: false,
            module: PathBuf::from(DEFAULT_MODULE),
            token: String::new(),
            label: String::new(),
            pin_env: String::new(),
            pin_file: None,
        }
    }

    /// Opens the signing key this location names (a PKCS#11 key must already exist).
    pub async fn open_signer(&self) -> Result<std::sync::Arc<dyn Signer>, CliError> {
        match &self.key_file {
            Some(path) => {
                let pem = zeroize::Zeroizing::new(
                    std::fs::read_to_string(path)
                        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?,
                );
                Ok(std::sync::Arc::new(SoftwareSigner::from_pkcs8_pem(&pem)?))
            }
            None => {
                let config = self.pkcs11_config();
                Ok(std::sync::Arc::new(
                    blocking(move || Pkcs11Signer::open(&config)).await?,
                ))
            }
        }
    }

    pub fn is_pkcs11(&self) -> bool {
        self.key_file.is_none()
    }

    /// The PKCS#11 configuration, when this location is a token rather than a file.
    pub fn pkcs11_only(&self) -> Option<Pkcs11Config> {
        self.is_pkcs11().then(|| self.pkcs11_config())
    }

    fn pkcs11_config(&self) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: self.token.clone(),
            pin: match &self.pin_file {
                Some(path) => PinSource::File(path.clone()),
                None => PinSource::Env(self.pin_env.clone()),
            },
            key_label: self.label.clone(),
        }
    }
}

pub async fn run(command: KeysCommand) -> Result<(), CliError> {
    let public = match command {
        KeysCommand::Generate(location) => match &location.key_file {
            Some(path) => {
                let signer = SoftwareSigner::generate()?;
                write_private_file(path, signer.to_pkcs8_pem()?.as_bytes())?;
                signer.public_jwk().clone()
            }
            None => {
                let config = location.pkcs11_config();
                blocking(move || Pkcs11Signer::generate(&config))
                    .await?
                    .public_jwk()
                    .clone()
            }
        },
        KeysCommand::Show(location) => location.open_signer().await?.public_jwk().clone(),
    };
    let text =
        serde_json::to_string_pretty(&public).map_err(|err| CliError::Io(err.to_string()))?;
    println!("{text}");
    Ok(())
}

/// PKCS#11 calls block; keep them off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, immerse_jose::Error> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| CliError::Io(format!("PKCS#11 task failed: {err}")))?
        .map_err(CliError::from)
}

/// Creates `path` readable by its owner only, refusing to overwrite an existing file.
pub(crate) fn write_private_file(path: &std::path::Path, contents: &[u8]) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
    file.write_all(contents)
        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))
}
