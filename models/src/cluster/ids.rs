//! Ids of the cluster's pools and workers (a leaf, so that routers and placement can name
//! workers without importing the cluster).

servesim_core::define_key! {
    /// Index of a pool in the cluster.
    pub struct PoolId(pub u16);
}

servesim_core::define_key! {
    /// Index of a worker in the cluster (never reused within a run).
    pub struct WorkerId(pub u32);
}
