"""Small helpers every layer uses: atomic writes and JSON (`io`), `UserError` (`errors`), the progress bar
(`progress`), the launchers' wrapper (`cli`), one writer per work dir (`lock`) and stop signals (`interrupt`).
Imports nothing else of the project."""
