export { classify, type Classification, type FailureKind } from './classify';
export { backoffDelay, type RetrySettings } from './retry-policy';
export { sendOnce, transportOptions, type OutgoingMail, type SendResult } from './smtp-transport';
export { Courier, type CourierDeps, type DeliveryObserver } from './courier';
export { Scheduler, type LaneStatus, type SchedulerSettings } from './scheduler';
export { TlsContexts } from './tls-contexts';
export { OutcomeJournal } from './outcome-journal';
export { systemClock, type Clock } from './clock';
export { rebaseDue, longestDelay, isExpired } from './retry-policy';
