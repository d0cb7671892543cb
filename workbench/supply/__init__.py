"""Supply chain: scan model artifacts without loading them, CycloneDX ML-BOM, verification."""
