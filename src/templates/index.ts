export { Renderer, assertSafe, deriveText, TEMPLATE_PARTS, type RenderedMail, type RenderOptions, type TemplatePart, type TemplateProblem, type UnsavedSources } from './renderer';
export { buildContext, safeFilename, type TemplateContext, type TemplateTenant } from './context';
export { Formats, formatPhone } from './format';
export { resolveLanguage } from './language';
export { previewPage, type PreviewPageOptions } from './preview-page';
export type { PreviewRequest, PreviewResult } from './preview';
