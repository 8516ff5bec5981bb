export { PROVIDER_PRESETS, applyProviderPreset, type ProviderName, type ProviderPreset } from './provider-presets';
export { OAuthTokenCache, TokenError, type AccessToken, type TokenSource, type OAuth2Credentials, type TokenCacheOptions } from './token-cache';
