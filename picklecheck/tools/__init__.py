"""Tools built on the engine: payload sizes (:mod:`.sizes`) and reading pickle files
without loading them (:mod:`.pickle_file`)."""
