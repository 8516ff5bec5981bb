export { planAttachments, markMissing, expandUrl, DEFAULT_MAX_ATTACHMENT_BYTES, type AttachmentPlan } from './policy';
