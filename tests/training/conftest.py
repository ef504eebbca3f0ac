"""The training tests' tiny Lua base model (`tiny_base`, `tiny_tokenizer`) lives in
tests/conftest.py: synthesis jobs run on it too, and a session fixture shared there is
built once for both packages."""
