"""Media handling for Arena: stream URLs, players and recordings."""
