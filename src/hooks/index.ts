export { Hooks, type Hook, type HookName, type HookStates } from './hooks';
