export { planAttachments, expandUrl, DEFAULT_MAX_ATTACHMENT_BYTES, type AttachmentPlan } from './policy';
