"""SoftSRV: trained contextual soft prompts fed to a frozen decoder (DeSalvo et al.)."""
