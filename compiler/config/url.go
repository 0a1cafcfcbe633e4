package config

// BaseURLs returns a channel's effective base URLs: its own base_url (string
// or list) when set, else its provider's base_url, else nil.
func (c *Config) BaseURLs(ch *Channel) []string {
	if len(ch.BaseURLs) > 0 {
		return ch.BaseURLs
	}
	if p := c.Provider(ch.Provider); p != nil && p.BaseURL != "" {
		return []string{p.BaseURL}
	}
	return nil
}
