"""BLE device profiles (pure decoders and encoders), connection management and sample clocks."""
