//! How a row's benchmark is taken to have run: aiconfigurator's recipe (its client's
//! settings where the recipe is silent), the steady state, or the start of a run.

/// aiconfigurator's aiperf recipe: warm-up requests per user (`--warmup-request-count 2·C`).
pub(super) const RECIPE_WARMUP_PER_USER: u32 = 2;
/// aiconfigurator's aiperf recipe: measured requests per user (`--num-requests 20·C`).
pub(super) const RECIPE_REQUESTS_PER_USER: u32 = 20;

/// What the predicted means are over: how the row's benchmark is taken to have run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Averaged {
    /// aiconfigurator's own benchmark recipe, simulated as the client runs it (see
    /// [`servesim_traffic::benchmark`]): `C` users sending together, `2·C` warm-up
    /// requests not counted, then `20·C` measured ones; the client's own statistics.
    Recipe(RecipeClient),
    /// The steady state of users out of step: the benchmark left its start out (a warm-up,
    /// or a long run).
    SteadyState,
    /// The first `requests_per_user × N` requests of a run that starts on an idle server
    /// with all `N` users sending at once: that start burst is in the means (a benchmark
    /// run with `--request-count K×N` and no warm-up, or one whose warm-up drains first).
    FromStart {
        /// Requests measured per user, at least 1.
        requests_per_user: u32,
    },
}

/// How the recipe's client runs where the recipe does not say; the default: every prompt
/// fresh, no connection limit, users out of step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecipeClient {
    /// The client's prompts come from a dataset of this many entries, repeating, as
    /// aiperf's do (`--num-dataset-entries`, see [`servesim_traffic::dataset`]); none:
    /// every prompt fresh.
    pub dataset_entries: Option<u32>,
    /// The client's connection pool: at most this many requests at the server, the others
    /// waiting in the client, their TTFT counted from when they were issued (see
    /// [`servesim_traffic::benchmark`]); none: no limit.
    pub connections: Option<u32>,
    /// Users as the client starts them, all together, and nothing to pull them apart
    /// (`--in-step`); by default they are out of step (see the module documentation).
    pub in_step: bool,
}

impl Default for Averaged {
    /// The recipe, every prompt fresh.
    fn default() -> Self {
        Averaged::Recipe(RecipeClient::default())
    }
}

impl Averaged {
    /// The CLI's choice: `--steady`, `--from-start K`, or neither (the recipe, its client as
    /// `client` says). What `client` sets applies to the recipe only, and a dataset or a
    /// pool holds at least one; otherwise the error names the field.
    pub fn from_flags(
        steady: bool,
        from_start: Option<u32>,
        client: RecipeClient,
    ) -> Result<Averaged, String> {
        let fields = [
            ("dataset_entries", client.dataset_entries),
            ("client_connections", client.connections),
        ];
        if steady || from_start.is_some() {
            let given = fields
                .iter()
                .map(|(field, n)| (*field, n.is_some()))
                .chain([("in_step", client.in_step)]);
            for (field, given) in given {
                if given {
                    return Err(format!(
                        "{field}: applies to the recipe only, not with steady or from_start"
                    ));
                }
            }
        }
        for (field, n) in fields {
            if n == Some(0) {
                return Err(format!("{field}: must be at least 1, got 0"));
            }
        }
        Ok(match (steady, from_start) {
            (true, _) => Averaged::SteadyState,
            (false, Some(requests_per_user)) => Averaged::FromStart { requests_per_user },
            (false, None) => Averaged::Recipe(client),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_and_users_in_step_belong_to_the_recipe() {
        let client = RecipeClient {
            dataset_entries: Some(100),
            connections: Some(100),
            in_step: true,
        };
        assert_eq!(
            Averaged::from_flags(false, None, client),
            Ok(Averaged::Recipe(client))
        );
        assert_eq!(
            Averaged::from_flags(true, None, RecipeClient::default()),
            Ok(Averaged::SteadyState)
        );
        let only = |f: fn(&mut RecipeClient)| {
            let mut c = RecipeClient::default();
            f(&mut c);
            c
        };
        for (steady, from_start) in [(true, None), (false, Some(10))] {
            for (field, client) in [
                ("dataset_entries", only(|c| c.dataset_entries = Some(100))),
                ("client_connections", only(|c| c.connections = Some(100))),
                ("in_step", only(|c| c.in_step = true)),
            ] {
                let e = Averaged::from_flags(steady, from_start, client).unwrap_err();
                assert!(
                    e.starts_with(&format!("{field}: applies to the recipe only")),
                    "{e}"
                );
            }
        }
        let e = Averaged::from_flags(false, None, only(|c| c.dataset_entries = Some(0)));
        assert_eq!(e.unwrap_err(), "dataset_entries: must be at least 1, got 0");
        let e = Averaged::from_flags(false, None, only(|c| c.connections = Some(0)));
        assert_eq!(
            e.unwrap_err(),
            "client_connections: must be at least 1, got 0"
        );
    }
}
