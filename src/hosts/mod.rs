//! Host adapters: thin glue between a host ABI and the pure core.
