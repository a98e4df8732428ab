//! Traffic for servesim (arrival processes, users, traces): built in issue 4.
