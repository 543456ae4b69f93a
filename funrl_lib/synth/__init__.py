"""ToolACE-style data synthesis: backends, API pool (TSS), dialogs (SDG), verification (DLV), exports."""
