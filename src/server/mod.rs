//! The service's HTTP side (`gitstellar serve`): webhook receivers, health, metrics and, later,
//! the dashboard. Inputs: requests; outputs: replies and reconcile requests queued for the
//! runtime. So far: the webhook receivers ([`hooks`]) with their pure half ([`webhook`]), the
//! reconcile queue ([`queue`]) and the metrics ([`metrics`]).

pub mod hooks;
pub mod metrics;
pub mod queue;
pub mod webhook;
