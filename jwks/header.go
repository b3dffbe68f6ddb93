package jwks

// MaxTokenBytes caps a token's length before any parsing.
const MaxTokenBytes = 8 << 10
