//! The world's handle for a request, as the cluster and its engines carry it: opaque to them,
//! handed back in every notice about the request.

servesim_core::define_key! {
    /// A request's handle, chosen by the world (a slot of its own, say) and only compared and
    /// handed back by the cluster and the engines.
    pub struct RequestHandle(pub u32);
}
