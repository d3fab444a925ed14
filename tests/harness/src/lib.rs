//! wasmtime host emulation for dp-audit (Fluent Bit filter ABI, proxy-wasm).
