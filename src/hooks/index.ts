export { HOOK_NAMES, Hooks, type Hook, type HookMessage, type HookName, type HookStates } from './hooks';
