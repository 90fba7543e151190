//! The service's HTTP side (`gitstellar serve`): webhook receivers, health, metrics and, later,
//! the dashboard. Inputs: requests; outputs: replies and reconcile requests queued for the
//! runtime. This step holds the pure half of the webhook receivers ([`webhook`]).

pub mod webhook;
