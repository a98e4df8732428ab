//! `servesim schema [--markdown]`: the JSON Schema of scenario files (for editors), or the
//! Markdown reference generated from it.

use clap::Args;

use super::CliError;

/// Arguments of `servesim schema`.
#[derive(Args)]
pub struct SchemaArgs {
    /// Print the Markdown reference instead of the JSON Schema.
    #[arg(long)]
    pub markdown: bool,
}

/// Prints the schema or the reference.
pub fn run_cmd(args: SchemaArgs) -> Result<(), CliError> {
    if args.markdown {
        print!("{}", servesim::scenario::schema::reference_markdown());
    } else {
        let text = serde_json::to_string_pretty(&servesim::scenario::schema::json_schema())
            .map_err(|e| CliError::Message(e.to_string()))?;
        println!("{text}");
    }
    Ok(())
}
