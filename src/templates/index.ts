export { Renderer, assertSafe, deriveText, TEMPLATE_PARTS, type RenderedMail, type RenderOptions, type TemplatePart, type TemplateProblem, type UnsavedSources } from './renderer';
export { buildContext, formatDuration, formatSize, formatWhen, safeFilename, type TemplateContext, type TemplateTenant } from './context';
export { formatDateTime, formatPhone, plural } from './format';
export { resolveLanguage } from './language';
export { previewPage, type PreviewPageOptions } from './preview-page';
export type { PreviewRequest, PreviewResult } from './preview';
